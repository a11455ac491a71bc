// The C side of CreditMeter's Kafka edge: Debian's librdkafka (pkg-config `rdkafka`),
// including the in-process mock cluster used by tests, the demo and benchmarks.
#ifndef CREDITMETER_CRDKAFKA_SHIM_H
#define CREDITMETER_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
