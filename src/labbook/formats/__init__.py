"""Pure parsers and writers of outside formats: bibliographies, Fatebook, example files."""
