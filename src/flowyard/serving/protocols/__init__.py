"""Wire codecs: Open Inference Protocol V2 and Seldon v1, each to and from `Payload`."""
