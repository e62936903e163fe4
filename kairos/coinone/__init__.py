"""The Coinone exchange boundary: public v2 and private v2.1 over an injected requests.Session."""
