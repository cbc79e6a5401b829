"""The learned intent layer: labelled data, features, training, the model at run time."""
