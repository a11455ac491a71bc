import Crdkafka

/// Builds an `rd_kafka_conf_t` from key/value properties; errors carry librdkafka's text,
/// with secrets masked.
enum RDKafkaConfig {
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var buffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &buffer, buffer.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = String(errorBuffer: buffer)
                let redactor = Redactor(properties: properties)
                let shown = Redactor.isSensitive(key) ? text.replacing(value, with: Redactor.mask) : text
                throw KafkaError(invalidArgument: redactor("Kafka property \(key): \(shown)"))
            }
        }
        return conf
    }
}
