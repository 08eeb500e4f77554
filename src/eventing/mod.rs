//! The local eventing stand-in: KafkaSink + KafkaSource semantics on SQLite.
