# The toolkit's pytest fixtures for plugin authors: stst_plugin, stst_weights_cache, stst_file_server.
pytest_plugins = ["stst_core.testing"]
