package io.medrical.connect.sink;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes each {@code put} in one transaction, one {@code COPY} and one upsert per table, and
 * returns only once it is committed; Connect commits no offset beyond what {@code put} returned
 * from, so a record is stored before its offset is committed and a redelivered one overwrites
 * itself.
 *
 * <p>Failures, told apart by SQLSTATE:
 * <ul>
 *   <li>the database is unreachable or shutting down (classes 08, 53, 57, 40): the batch is
 *       retried, the consumer paused, for up to {@code medrical.retry.budget.ms}; then the task
 *       fails, its records still uncommitted, for the supervisor to restart;</li>
 *   <li>a record's data is refused (classes 22, 23, 54) or it cannot be stored at all (not a
 *       struct, a key missing): the batch is written again record by record, and only the
 *       records refused go to the errant record reporter (the dead-letter topic);</li>
 *   <li>anything else (a table without the primary key's unique index, no privilege): the task
 *       fails with the database's message; nothing is acknowledged.</li>
 * </ul>
 */
public final class CopySinkTask extends SinkTask {

    static final String VERSION = "1";
    private static final Logger LOG = LoggerFactory.getLogger(CopySinkTask.class);

    private CopySinkConfig config;
    private ErrantRecordReporter reporter;
    private Connection conn;
    private CopyManager copy;
    private final Map<String, Table> tables = new HashMap<>();
    private int stages;
    private long failingSinceMs = -1;

    @Override
    public String version() {
        return VERSION;
    }

    @Override
    public void start(Map<String, String> props) {
        config = new CopySinkConfig(props);
        try {
            reporter = context.errantRecordReporter();
        } catch (NoSuchMethodError | NoClassDefFoundError e) {
            reporter = null; // a worker older than Kafka 2.6
        }
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        if (records.isEmpty()) {
            return;
        }
        try {
            connect();
            try {
                writeBatch(records);
            } catch (BadRecordException | SQLException e) {
                rollbackQuietly();
                if (e instanceof SQLException && !isDataError((SQLException) e)) {
                    throw (SQLException) e;
                }
                LOG.warn("a batch of {} records was refused ({}); writing it record by record",
                        records.size(), describe(e));
                writeOneByOne(records);
            }
            failingSinceMs = -1;
        } catch (SQLException e) {
            rollbackQuietly();
            onDatabaseFailure(e);
        }
    }

    private void writeBatch(Collection<SinkRecord> records) throws SQLException, BadRecordException {
        for (Map.Entry<String, List<SinkRecord>> topic : byTopic(records).entrySet()) {
            List<SinkRecord> topicRecords = topic.getValue();
            int from = 0;
            while (from < topicRecords.size()) {
                Schema schema = topicRecords.get(from).valueSchema();
                int to = from + 1;
                while (to < topicRecords.size() && sameSchema(schema, topicRecords.get(to))) {
                    to++;
                }
                Table table = prepared(topic.getKey(), schema);
                table.write(conn, copy, topicRecords.subList(from, to));
                from = to;
            }
        }
        conn.commit();
    }

    private void writeOneByOne(Collection<SinkRecord> records) throws SQLException {
        for (SinkRecord record : records) {
            if (record.value() == null) {
                continue;
            }
            try {
                prepared(record.topic(), record.valueSchema()).write(conn, copy, List.of(record));
                conn.commit();
            } catch (BadRecordException | SQLException e) {
                rollbackQuietly();
                if (e instanceof SQLException && !isDataError((SQLException) e)) {
                    throw (SQLException) e;
                }
                refuse(record, e);
            }
        }
    }

    private void refuse(SinkRecord record, Exception cause) {
        String where = record.topic() + "-" + record.kafkaPartition() + "@" + record.kafkaOffset();
        if (reporter == null) {
            throw new ConnectException("record " + where + " cannot be stored (" + describe(cause)
                    + ") and this connector has no dead-letter topic", cause);
        }
        LOG.warn("record {} cannot be stored ({}); reporting it as an errant record", where,
                describe(cause));
        reporter.report(record, cause);
    }

    private Table prepared(String topic, Schema schema) throws SQLException, BadRecordException {
        String name = config.tableName(topic);
        Table table = tables.computeIfAbsent(name,
                n -> new Table(n, config.primaryKeyFields(), ++stages));
        if (!table.preparedFor(schema)) {
            table.prepare(conn, schema);
        }
        return table;
    }

    private static Map<String, List<SinkRecord>> byTopic(Collection<SinkRecord> records) {
        Map<String, List<SinkRecord>> grouped = new LinkedHashMap<>();
        for (SinkRecord record : records) {
            if (record.value() == null) {
                continue; // a tombstone: nothing to store, deletes are not propagated
            }
            grouped.computeIfAbsent(record.topic(), t -> new ArrayList<>()).add(record);
        }
        return grouped;
    }

    private static boolean sameSchema(Schema schema, SinkRecord record) {
        Schema other = record.valueSchema();
        return other == schema || (other != null && other.equals(schema));
    }

    private void connect() throws SQLException {
        if (conn != null) {
            return;
        }
        Properties props = new Properties();
        props.setProperty("user", config.username());
        props.setProperty("password", config.password().value());
        props.setProperty("ApplicationName", "medrical-copy-sink");
        props.setProperty("tcpKeepAlive", "true");
        Connection opened = new org.postgresql.Driver().connect(config.url(), props);
        if (opened == null) {
            throw new ConnectException(CopySinkConfig.URL + " is not a PostgreSQL JDBC URL");
        }
        opened.setAutoCommit(false);
        conn = opened;
        copy = conn.unwrap(PGConnection.class).getCopyAPI();
        tables.clear(); // staging tables live in the session that made them
    }

    private void onDatabaseFailure(SQLException e) {
        closeQuietly();
        if (!isTransient(e)) {
            throw new ConnectException("PostgreSQL refused the batch: " + describe(e), e);
        }
        long now = System.currentTimeMillis();
        if (failingSinceMs < 0) {
            failingSinceMs = now;
        }
        long failingMs = now - failingSinceMs;
        if (failingMs >= config.retryBudgetMs()) {
            throw new ConnectException("PostgreSQL has been unreachable for " + failingMs
                    + " ms; failing the task with its records unacknowledged: " + describe(e), e);
        }
        LOG.warn("PostgreSQL is unreachable ({}); retrying the batch in {} ms", describe(e),
                config.retryBackoffMs());
        context.timeout(config.retryBackoffMs());
        throw new RetriableException(e);
    }

    static boolean isTransient(SQLException e) {
        String state = e.getSQLState();
        return state == null || state.startsWith("08") || state.startsWith("53")
                || state.startsWith("57") || state.startsWith("40") || state.startsWith("58");
    }

    static boolean isDataError(SQLException e) {
        String state = e.getSQLState();
        return state != null
                && (state.startsWith("22") || state.startsWith("23") || state.startsWith("54"));
    }

    private static String describe(Exception e) {
        if (e instanceof SQLException && ((SQLException) e).getSQLState() != null) {
            return "SQLSTATE " + ((SQLException) e).getSQLState() + ": " + e.getMessage();
        }
        return e.getMessage();
    }

    private void rollbackQuietly() {
        if (conn == null) {
            return;
        }
        try {
            conn.rollback();
        } catch (SQLException e) {
            closeQuietly();
        }
    }

    private void closeQuietly() {
        if (conn != null) {
            try {
                conn.close();
            } catch (SQLException ignored) {
                // the session is gone either way
            }
        }
        conn = null;
        copy = null;
        tables.clear();
    }

    @Override
    public void stop() {
        closeQuietly();
    }
}
