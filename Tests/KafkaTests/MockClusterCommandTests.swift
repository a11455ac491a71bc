import Logging
import Testing
import Kafka
import KafkaMockCluster

/// `dev-broker --commands`: the text commands a test in another process sends to steer the
/// mock cluster, and their one-line answers. (Their effects on a running service are tested
/// in `OutOfProcessFaultTests`.)
@Suite(.timeLimit(.minutes(1)))
struct MockClusterCommandTests {
    @Test func commandsAnswerOkOrOneLineNamingTheProblem() throws {
        let cluster = try MockCluster(brokers: 3, logger: Logger(label: "test.mock"))
        try cluster.createTopic("t", partitions: 2)
        let cases: [(String, String)] = [
            ("leader t 1 3", "ok"),
            ("coordinator some-group 2", "ok"),
            ("errors Produce NOT_ENOUGH_REPLICAS,7,REQUEST_TIMED_OUT", "ok"),
            ("errors offsetcommit RD_KAFKA_RESP_ERR_NOT_COORDINATOR 2", "ok"),
            ("clear Produce", "ok"),
            ("rtt 1 250", "ok"),
            ("rtt 1 0", "ok"),
            ("down 3", "ok"),
            ("up 3", "ok"),
            ("", "error empty command"),
            ("reboot 1", "error unknown command reboot"),
            ("down", "error usage: down <broker>"),
            ("rtt one 5", "error rtt: broker must be an integer"),
            ("errors Gossip 7", "error errors: unknown API Gossip"),
            ("errors Fetch NO_SUCH_ERROR", "error errors: unknown error code NO_SUCH_ERROR"),
            ("errors Fetch 7 9", "error errors on broker 9: Local: Unknown broker"),
            ("leader t 0 9", "error leader of t/0 → 9: Broker: Broker not available"),
        ]
        for (command, answer) in cases {
            #expect(cluster.perform(command) == answer, "\(command)")
        }
        #expect(MockCluster.errorCode(named: "not_leader_for_partition") == KafkaErrorCode.notLeaderForPartition)
    }
}
