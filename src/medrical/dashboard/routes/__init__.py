"""The dashboard's routes, one router per concern; `medrical.dashboard.app` puts them together."""
