"""The HTTP control plane: JSON API, OpenAPI document, live pose stream and the web page."""
