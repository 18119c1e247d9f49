"""pytester tests of the plugin: options, reports, redaction and start-up errors."""
