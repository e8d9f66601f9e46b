"""Serving: endpoint resolution, the loaded-model cache, and the predict path.

It imports no monitoring: the predictor hands each request to the ports in ``ports``
(the prediction log implements them), and ``target.Target`` is the leaf both share.
"""
