import os

# aws-cdk-lib's jsii runtime warns loudly about Node 20; the infra tests import it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
