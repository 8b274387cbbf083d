"""Carton's CDK app: one construct per concern, composed by `stack.CartonStack`.

Kept free of CDK imports so the local stack can read `definition` cheaply.
"""
