"""Tests of pgflow._get_flow_shape and pgflow._shape_options."""
