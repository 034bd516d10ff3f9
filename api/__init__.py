"""jiyu HTTP scoring API (FastAPI). Empty until the API issue lands."""
