//! Service clients and the internal credentials endpoint.
