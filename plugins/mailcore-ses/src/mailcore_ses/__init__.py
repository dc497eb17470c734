"""mailcore-ses: deliver mailcore messages through Amazon SES (API v2) with boto3.

The package is cheap to import: boto3 and botocore load only when a transport is built.
"""
