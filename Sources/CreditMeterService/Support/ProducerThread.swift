import Foundation
import Kafka

/// A producer of its own with the thread that serves its delivery reports (the ownership
/// directory's announcements, the HTTP hold requests): the producer, its one topic handle
/// (made before any thread shares it: `KafkaProducer.topic` is not thread-safe), and the
/// signal the thread gives when it ends.
final class ProducerThread: @unchecked Sendable {  // produce is thread-safe; the rest is set once
    let producer: KafkaProducer
    let topic: ProducerTopic
    let finished = DispatchSemaphore(value: 0)

    init(producer: KafkaProducer, topic: ProducerTopic) {
        self.producer = producer
        self.topic = topic
    }
}
