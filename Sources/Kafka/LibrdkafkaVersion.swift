/// librdkafka's version, e.g. "2.0.2".
public var librdkafkaVersion: String { RDKafkaClient.versionString }
