"""What every Franz service shares: settings, the Kafka consume→process→produce loop, health and metrics."""
