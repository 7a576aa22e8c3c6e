//! The OpenAPI document and Swagger UI.
