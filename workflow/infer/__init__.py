"""Applying a trained campaign to a recording (``python -m workflow infer``, issue 11).

One module per concept:

``traces``            read a recorded TRACE (``.npy``, ``.csv``, ``.h5``), check it, and bring it to the
                      campaign's form: its LFP rate, campaign-length windows, catch22 features
``misspecification``  an out-of-distribution score of a feature vector against the campaign's
                      training features, with a threshold calibrated to a chosen false-positive rate
"""
