"""The API's views, one module per resource; ``linker.api.urls`` maps them."""
