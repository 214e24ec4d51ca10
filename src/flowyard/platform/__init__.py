"""The platform: an HTTP API over the metadata store, and controllers that turn resources
into runs, serving processes and data jobs on this machine (`flowyard up`)."""
