"""The configuration layer: validation, errors with their YAML lines, ids, schema, the flat form."""
