// The C side of CreditMeter's Kafka edge: Debian's librdkafka (pkg-config `rdkafka`), called
// from Sources/Kafka/RDKafka, and its in-process mock cluster (rdkafka_mock.h), called only
// from Sources/KafkaMockCluster (tests, the demo, benchmarks, the dev broker).
#ifndef CREDITMETER_CRDKAFKA_SHIM_H
#define CREDITMETER_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// One entry of a broker's error stack (the C function is variadic, which Swift cannot call).
static inline rd_kafka_resp_err_t cm_mock_broker_push_request_error(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id,
                                                                    int16_t api_key, rd_kafka_resp_err_t err) {
    return rd_kafka_mock_broker_push_request_error_rtts(mcluster, broker_id, api_key, 1, err, 0);
}
#endif
