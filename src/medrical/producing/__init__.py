"""Publishing biometrics events to Kafka as Avro, with the Confluent wire format."""

from medrical.producing.producer import BiometricsProducer, DeliveryStats

__all__ = ["BiometricsProducer", "DeliveryStats"]
