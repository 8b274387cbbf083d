"""Carton's Python client and the `carton` command line built on it.

Importable without boto3, Powertools or Pillow: it talks to the API over HTTP (httpx) and
shares the API's own pydantic request and response models (carton.*.api), so there is no
second copy of the shapes. Not part of the Lambda layer (infra leaves it out).
"""

from carton.client.client import ApiError, Client
from carton.client.config import Profile, load_profile

__all__ = ["ApiError", "Client", "Profile", "load_profile"]
