"""The Franz operator: reconciles FranzPipeline resources into topics, config, secrets and rollouts."""
