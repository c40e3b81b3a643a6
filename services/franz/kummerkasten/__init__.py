"""kummerkasten ("suggestion box"): the Discord bot that takes `/ticket` and publishes raw intake."""
