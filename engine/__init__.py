"""The workflow engine: procedure language, expressions, pure runtime, storage and services."""
