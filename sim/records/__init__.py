"""Records of real truces: the record format, observation models, import and the library."""
