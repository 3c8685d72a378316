// Package registry talks to a Confluent-compatible Schema Registry (Confluent
// Schema Registry, Redpanda, Karapace, Apicurio's Confluent API) through
// franz-go's sr client: it registers imreport's value schema at start-up and
// resolves schema ids for readers.
//
// # Subjects
//
// Subject names the subject a value schema is registered under, by
// Confluent's subject name strategies: TopicNameStrategy ("topic",
// <topic>-value, the default of every Confluent serializer and of Kafka
// Connect), RecordNameStrategy ("record", the record's full name) and
// TopicRecordNameStrategy ("topic_record", <topic>-<full name>).
//
// # Registration
//
// Client.Register posts the schema text as given (imreport registers the
// full .avsc, with docs, defaults and logical types; never the Parsing
// Canonical Form, which drops them) and returns the id. Registering a schema
// the subject already holds returns its existing id and creates no version.
// It makes one attempt: its errors say whether another attempt may help
// (Temporary, read by retry.Temporary), and the caller's retry.Policy
// retries.
//
// # Errors
//
// A registry that answers with an error status returns an *Error carrying
// the subject, the HTTP status, the registry's error code and its message.
// 5xx, 408 and 429 answers are temporary; 409 (incompatible with the
// versions under the subject), 422 (invalid schema), 401 and 403
// (credentials) and every other 4xx are not. Connection errors (refused,
// reset, timeouts) are left to retry.Temporary, which calls them temporary.
// Credentials never appear in an error: a URL with user information is
// refused by New.
//
// # Lookups
//
// Client.SchemaText returns the schema text of an id (GET
// /schemas/ids/{id}), as schema.Decoder needs it; the Decoder caches it.
package registry
