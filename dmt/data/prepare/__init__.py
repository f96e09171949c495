"""Preparing each data set into its folder (one module per data set, covered only by that data
set's ``prepare:<name>`` digest; the readers of prepared folders are ``dmt.data``)."""
