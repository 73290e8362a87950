"""The pure core: the routing tree and its texts, the préfecture configuration, the router,
masking. Imports nothing else from the project."""
