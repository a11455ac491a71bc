import CreditConfig
@testable import CreditMeterService
import Kafka
import KafkaMockCluster
import Logging
import Testing

/// A checkpoint counts only once every one of its records is acknowledged with its offset: a
/// record librdkafka acknowledges implicitly (after a retriable error, when a later request for
/// its partition succeeds) may never have been written by a broker that does not check
/// sequence numbers, so `StateTopic.write` produces it again before returning.
@Suite(.timeLimit(.minutes(2))) struct StateTopicDeliveryTests {
    @Test func aCheckpointWrittenThroughImplicitAcknowledgementsReadsBackWhole() throws {
        var logger = Logger(label: "test.state-topic")
        logger.logLevel = .error
        let cluster = try MockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("credit.state", partitions: 2)
        var kafka = ServiceConfiguration.Kafka()
        kafka.stateTopic = "credit.state"
        // One record per request, five in flight, answers 300 ms late: the request after a
        // failed one is always on its way when the failure comes back.
        kafka.properties = ["batch.num.messages": "1"]
        let stateTopic = try StateTopic(topic: "credit.state", kafka: kafka, bootstrap: cluster.bootstrapServers, logger: logger)
        try cluster.setRoundTripTime(broker: 1, milliseconds: 300)
        try cluster.pushRequestErrors(.produce, [KafkaErrorCode.requestTimedOut, 0, KafkaErrorCode.notEnoughReplicas, 0,
                                                 KafkaErrorCode.requestTimedOut, 0], broker: 1)
        // Five chunks and a manifest.
        let snapshot = (0..<(StateLayout.chunkSize * 4 + 777)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let tp = TopicPartition("ai.usage", 0)
        try stateTopic.write(snapshot, for: tp, nextOffset: 42, wallMillis: 1_800_000_000_000)
        try cluster.setRoundTripTime(broker: 1, milliseconds: 0)
        #expect(stateTopic.recordsProducedAgain > 0, "no record was acknowledged implicitly: the test did not force the interleaving")

        let found = try #require(try stateTopic.read([tp])[tp])
        #expect(found.problem == nil, "\(found.problem ?? "")")
        #expect(found.manifest?.nextOffset == 42)
        #expect(found.bytes?.count == snapshot.count)
        #expect(found.bytes.map { $0 == snapshot } == true, "the checkpoint read back differs from the one written")
    }
}
