"""Detection adapters: the encoder, loading the models, data sets, training, evaluation."""
