"""OpenIMS: a self-hosted image catalog speaking Huawei Cloud IMS and OpenStack Glance v2."""

__version__ = "0.1.0"
