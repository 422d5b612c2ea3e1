package io.medrical.connect;

import io.apicurio.registry.rest.client.exception.NotFoundException;
import io.apicurio.registry.rest.client.exception.RestClientException;
import io.apicurio.registry.utils.converter.AvroConverter;
import io.apicurio.rest.client.error.ApicurioRestClientException;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.storage.Converter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Apicurio's Avro converter, made to wait for the schema registry instead of giving up on the
 * first failed request.
 *
 * <p>Why: with {@code errors.tolerance=all}, Kafka Connect sends every exception a converter
 * throws to the dead-letter topic, and Apicurio's schema cache retries only rate-limited
 * requests. A registry that is down, restarting, answering 5xx, refusing our credentials or
 * failing the TLS handshake therefore diverted good readings to the dead letters. Connect's own
 * {@code errors.retry.timeout} does not help: it retries only {@code RetriableException}s, and
 * once its time is up (or the task is being stopped) the record goes to the dead letters too.
 *
 * <p>So this converter tells the two kinds of failure apart:
 * <ul>
 *   <li>poison: the bytes are not the Confluent wire format or not Avro, or the registry
 *       answered that the schema id is unknown (404) or that the request is bad (other 4xx).
 *       These are rethrown as they are, and Connect sends the record to the dead letters.</li>
 *   <li>transient: no answer (connection refused, reset, timeout, TLS handshake), a 5xx, 401,
 *       403, 408 or 429. These are retried here, with a doubling back-off, for up to
 *       {@code medrical.retry.budget.ms}. If the registry is still failing then, this throws
 *       {@link RegistryUnavailableError}: an {@link Error} is the one kind of throwable that
 *       Connect's error tolerance does not catch, so the task fails, loudly, and the record
 *       stays unconsumed (its offset is never committed) until the task is restarted.</li>
 * </ul>
 */
public class RegistryRetryingAvroConverter implements Converter {

    /** Longest time one record waits for the registry before the task fails. */
    public static final String RETRY_BUDGET_MS = "medrical.retry.budget.ms";
    /** Longest pause between two attempts. */
    public static final String RETRY_BACKOFF_MAX_MS = "medrical.retry.backoff.max.ms";

    static final long DEFAULT_RETRY_BUDGET_MS = 60_000;
    static final long DEFAULT_RETRY_BACKOFF_MAX_MS = 5_000;
    private static final long FIRST_BACKOFF_MS = 200;

    private static final Logger LOG = LoggerFactory.getLogger(RegistryRetryingAvroConverter.class);

    private final AvroConverter<Object> delegate = new AvroConverter<>();
    private long retryBudgetMs = DEFAULT_RETRY_BUDGET_MS;
    private long retryBackoffMaxMs = DEFAULT_RETRY_BACKOFF_MAX_MS;
    private String role = "value";

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {
        Map<String, Object> forDelegate = new HashMap<>();
        for (Map.Entry<String, ?> entry : configs.entrySet()) {
            if (!entry.getKey().startsWith("medrical.")) {
                forDelegate.put(entry.getKey(), entry.getValue());
            }
        }
        retryBudgetMs = longSetting(configs, RETRY_BUDGET_MS, DEFAULT_RETRY_BUDGET_MS);
        retryBackoffMaxMs = longSetting(configs, RETRY_BACKOFF_MAX_MS, DEFAULT_RETRY_BACKOFF_MAX_MS);
        role = isKey ? "key" : "value";
        delegate.configure(forDelegate, isKey);
    }

    @Override
    public byte[] fromConnectData(String topic, Schema schema, Object value) {
        return withRetries(topic, () -> delegate.fromConnectData(topic, schema, value));
    }

    @Override
    public byte[] fromConnectData(String topic, Headers headers, Schema schema, Object value) {
        return withRetries(topic, () -> delegate.fromConnectData(topic, headers, schema, value));
    }

    @Override
    public SchemaAndValue toConnectData(String topic, byte[] value) {
        return withRetries(topic, () -> delegate.toConnectData(topic, value));
    }

    @Override
    public SchemaAndValue toConnectData(String topic, Headers headers, byte[] value) {
        return withRetries(topic, () -> delegate.toConnectData(topic, headers, value));
    }

    @Override
    public ConfigDef config() {
        return new ConfigDef()
                .define(RETRY_BUDGET_MS, ConfigDef.Type.LONG, DEFAULT_RETRY_BUDGET_MS,
                        ConfigDef.Importance.MEDIUM,
                        "Longest time a record waits for an unreachable registry before the task fails.")
                .define(RETRY_BACKOFF_MAX_MS, ConfigDef.Type.LONG, DEFAULT_RETRY_BACKOFF_MAX_MS,
                        ConfigDef.Importance.LOW, "Longest pause between two attempts.");
    }

    @Override
    public void close() {
        delegate.close();
    }

    private <T> T withRetries(String topic, Supplier<T> attempt) {
        long started = System.currentTimeMillis();
        long backoff = FIRST_BACKOFF_MS;
        int failures = 0;
        while (true) {
            try {
                T result = attempt.get();
                if (failures > 0) {
                    LOG.info("Schema registry answered again for the {} of a record of {} after {} failed attempt(s) in {} ms",
                            role, topic, failures, System.currentTimeMillis() - started);
                }
                return result;
            }
            catch (RuntimeException e) {
                String reason = transientReason(e);
                if (reason == null) {
                    throw e; // poison: Connect's error tolerance sends it to the dead letters
                }
                failures++;
                long elapsed = System.currentTimeMillis() - started;
                if (elapsed >= retryBudgetMs) {
                    throw new RegistryUnavailableError(String.format(
                            "schema registry unavailable for %d ms (%d attempts) while converting the %s of a record of %s: %s; "
                                    + "failing the task rather than sending a good record to the dead letters",
                            elapsed, failures, role, topic, reason), e);
                }
                if (failures == 1 || failures % 10 == 0) {
                    LOG.warn("Schema registry unavailable while converting the {} of a record of {} ({}); retrying for up to {} ms more",
                            role, topic, reason, retryBudgetMs - elapsed);
                }
                sleep(Math.min(backoff, retryBudgetMs - elapsed));
                backoff = Math.min(backoff * 2, retryBackoffMaxMs);
            }
        }
    }

    /**
     * Why the failure is worth waiting out, or null when it is poison. Only a failure of the
     * registry client can be transient: anything else (a wrong magic byte, bytes that are not
     * Avro) would fail the same way on every attempt.
     */
    static String transientReason(Throwable failure) {
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof NotFoundException) {
                return null; // the registry answered: this schema id does not exist
            }
            if (cause instanceof RestClientException) {
                Integer code = ((RestClientException) cause).getError().getErrorCode();
                if (code == null || code == 0) {
                    return "no answer: " + describe(cause);
                }
                if (code >= 500 || code == 401 || code == 403 || code == 408 || code == 429) {
                    return "HTTP " + code + ": " + describe(cause);
                }
                return null; // the registry answered that the request is wrong
            }
            if (cause instanceof ApicurioRestClientException) {
                // NotAuthorizedException, ForbiddenException, RateLimitedClientException and
                // the client's own transport failures: no verdict about the record itself.
                return describe(cause);
            }
            if (cause.getCause() == cause) {
                break;
            }
        }
        return null;
    }

    private static String describe(Throwable cause) {
        String message = cause.getMessage();
        if (cause instanceof RestClientException) {
            var error = ((RestClientException) cause).getError();
            if (error.getName() != null) {
                message = error.getName() + (message != null ? " " + message : "");
            }
        }
        return cause.getClass().getSimpleName() + (message != null ? " (" + message + ")" : "");
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(Math.max(0, millis));
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableError("interrupted while waiting for the schema registry", e);
        }
    }

    private static long longSetting(Map<String, ?> configs, String key, long fallback) {
        Object value = configs.get(key);
        if (value == null) {
            return fallback;
        }
        return Long.parseLong(value.toString().trim());
    }

    /** The registry stayed unavailable for the whole retry budget: the task must stop. */
    public static class RegistryUnavailableError extends Error {
        private static final long serialVersionUID = 1L;

        public RegistryUnavailableError(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
