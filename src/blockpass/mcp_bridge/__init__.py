"""The MCP bridge: blockpass as an MCP client running a model's tool loop.

``client.py`` connects to MCP servers and calls their tools, ``tools.py`` turns their tool
definitions into blockpass's (unique names, canonical schemas, strict-mode flags) and
``loop.py`` runs the loop for one pack. Importing this package does not import the ``mcp``
SDK: a toolbox imports it when it opens.
"""
