"""absturz ("crash"): reports operational errors and dead letters to a Discord channel through a webhook."""
