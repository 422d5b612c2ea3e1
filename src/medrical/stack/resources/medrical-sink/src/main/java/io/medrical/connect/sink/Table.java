package io.medrical.connect.sink;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Savepoint;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One table as a task writes it: created or widened for a value schema, a temporary staging
 * table of the same columns in the task's session, and the two statements of a batch.
 */
final class Table {

    private static final Logger LOG = LoggerFactory.getLogger(Table.class);
    private static final int COPY_CHUNK = 1 << 20;
    private static final String UNIQUE_VIOLATION = "23505";
    // After a batch met rows stored already, the next ones go through the upsert at once.
    private static final int DIRECT_SKIPS_AFTER_CONFLICT = 8;

    private final String name;
    private final List<String> keyFields;
    private final String stage;
    private Schema schema;
    private Field[] fields;
    private ColumnKind[] kinds;
    private Field[] keys;
    private String copySql;
    private String directCopySql;
    private int directTriesSkipped = DIRECT_SKIPS_AFTER_CONFLICT;
    private String upsertSql;

    Table(String name, List<String> keyFields, int number) {
        this.name = name;
        this.keyFields = List.copyOf(keyFields);
        this.stage = "medrical_stage_" + number;
    }

    String name() {
        return name;
    }

    /** True when records of {@code valueSchema} can be written without preparing again. */
    boolean preparedFor(Schema valueSchema) {
        return schema != null && (schema == valueSchema || schema.equals(valueSchema));
    }

    /**
     * Make the table hold records of {@code valueSchema}: create it with its primary key, or add
     * the columns it lacks (nullable), then (re)create the staging table. Commits.
     */
    void prepare(Connection conn, Schema valueSchema) throws SQLException, BadRecordException {
        if (valueSchema == null || valueSchema.type() != Schema.Type.STRUCT) {
            throw new BadRecordException("the record value is not a struct with a schema");
        }
        List<Field> all = valueSchema.fields();
        ColumnKind[] newKinds = new ColumnKind[all.size()];
        for (int i = 0; i < all.size(); i++) {
            Field field = all.get(i);
            newKinds[i] = ColumnKind.of(field.schema());
            if (newKinds[i] == null) {
                throw new BadRecordException("field " + field.name() + " is a "
                        + field.schema().type() + ", which no column of " + name + " can hold");
            }
        }
        Field[] newKeys = new Field[keyFields.size()];
        for (int i = 0; i < newKeys.length; i++) {
            newKeys[i] = valueSchema.field(keyFields.get(i));
            if (newKeys[i] == null) {
                throw new BadRecordException("the record value has no primary key field "
                        + keyFields.get(i));
            }
        }
        try (Statement st = conn.createStatement()) {
            // One task at a time changes a table: three tasks meeting a new topic together
            // would otherwise race to create it.
            try (PreparedStatement lock = conn.prepareStatement(
                    "SELECT pg_advisory_xact_lock(hashtext(?))")) {
                lock.setString(1, "medrical-copy-sink:" + name);
                lock.execute();
            }
            Map<String, String> existing = columns(conn);
            if (existing.isEmpty()) {
                StringJoiner ddl = new StringJoiner(", ", "CREATE TABLE IF NOT EXISTS "
                        + quote(name) + " (", ")");
                for (int i = 0; i < all.size(); i++) {
                    Field field = all.get(i);
                    boolean notNull = !field.schema().isOptional() || keyFields.contains(field.name());
                    ddl.add(quote(field.name()) + " " + newKinds[i].sqlType
                            + (notNull ? " NOT NULL" : ""));
                }
                ddl.add("PRIMARY KEY (" + quotedList(keyFields) + ")");
                st.execute(ddl.toString());
                LOG.info("created table {}", name);
            } else {
                for (int i = 0; i < all.size(); i++) {
                    Field field = all.get(i);
                    String dataType = existing.get(field.name());
                    if (dataType != null && !newKinds[i].fits(dataType)) {
                        throw new ConnectException("column " + field.name() + " of table " + name
                                + " is " + dataType + ", but field " + field.name() + " is a "
                                + newKinds[i].sqlType + "; alter the column, or store the topic "
                                + "in another table");
                    }
                    if (dataType == null) {
                        st.execute("ALTER TABLE " + quote(name) + " ADD COLUMN IF NOT EXISTS "
                                + quote(field.name()) + " " + newKinds[i].sqlType);
                        LOG.info("added column {} to table {}", field.name(), name);
                    }
                }
            }
            if (!hasUniqueIndexOnKey(conn)) {
                // Without it a batch stored twice would be stored twice, not upserted.
                throw new ConnectException("table " + name + " has no primary key or unique "
                        + "index on exactly (" + String.join(", ", keyFields) + "); add one, or "
                        + "store the topic in another table");
            }
            conn.commit();
            List<String> names = new ArrayList<>(all.size());
            for (Field field : all) {
                names.add(field.name());
            }
            String columnList = quotedList(names);
            st.execute("DROP TABLE IF EXISTS pg_temp." + quote(stage));
            st.execute("CREATE TEMPORARY TABLE " + quote(stage) + " ON COMMIT DELETE ROWS AS SELECT "
                    + columnList + " FROM " + quote(name) + " WITH NO DATA");
            conn.commit();
            StringJoiner updates = new StringJoiner(", ");
            for (String column : names) {
                if (!keyFields.contains(column)) {
                    updates.add(quote(column) + " = EXCLUDED." + quote(column));
                }
            }
            directCopySql = "COPY " + quote(name) + " (" + columnList + ") FROM STDIN (FORMAT binary)";
            copySql = "COPY pg_temp." + quote(stage) + " (" + columnList + ") FROM STDIN (FORMAT binary)";
            upsertSql = "INSERT INTO " + quote(name) + " (" + columnList + ") SELECT " + columnList
                    + " FROM pg_temp." + quote(stage) + " ON CONFLICT (" + quotedList(keyFields)
                    + ") DO " + (updates.length() == 0 ? "NOTHING" : "UPDATE SET " + updates);
        }
        schema = valueSchema;
        fields = all.toArray(new Field[0]);
        kinds = newKinds;
        keys = newKeys;
    }

    /**
     * Write {@code records} (all of the prepared schema, in offset order) in the open
     * transaction: the last record of each key wins, as separate upserts in a row would leave it.
     * Returns the rows inserted or updated.
     */
    int write(Connection conn, CopyManager copy, List<SinkRecord> records) throws SQLException, BadRecordException {
        Map<String, Struct> last = new LinkedHashMap<>(records.size() * 2);
        StringBuilder key = new StringBuilder();
        for (SinkRecord record : records) {
            Struct value = (Struct) record.value();
            key.setLength(0);
            for (Field field : keys) {
                Object part = value.get(field);
                if (part == null) {
                    throw new BadRecordException("primary key field " + field.name() + " is null");
                }
                key.append(ColumnKind.keyPart(part)).append('\u0001');
            }
            last.put(key.toString(), value);
        }
        CopyBinary out = new CopyBinary(128 * last.size());
        for (Struct value : last.values()) {
            out.startRow(fields.length);
            for (int i = 0; i < fields.length; i++) {
                Object field = value.get(fields[i]);
                if (field == null) {
                    out.putNull();
                } else {
                    out.put(kinds[i], field);
                }
            }
        }
        byte[] rows = out.finish();
        if (directTriesSkipped >= DIRECT_SKIPS_AFTER_CONFLICT) {
            // Most batches are readings never stored before: one COPY straight into the table
            // stores them. If one of them is there already (a batch redelivered after a crash,
            // a stream sent twice), the COPY fails as a whole and the upsert below does it.
            Savepoint before = conn.setSavepoint();
            try {
                copyIn(copy, directCopySql, rows);
                conn.releaseSavepoint(before);
                return last.size();
            } catch (SQLException e) {
                if (!UNIQUE_VIOLATION.equals(e.getSQLState())) {
                    throw e;
                }
                conn.rollback(before);
                directTriesSkipped = 0;
            }
        } else {
            directTriesSkipped++;
        }
        copyIn(copy, copySql, rows);
        try (Statement st = conn.createStatement()) {
            int stored = st.executeUpdate(upsertSql);
            // Another run into this table may follow in the same transaction.
            st.execute("TRUNCATE pg_temp." + quote(stage));
            return stored;
        }
    }

    private static void copyIn(CopyManager copy, String sql, byte[] rows) throws SQLException {
        CopyIn in = copy.copyIn(sql);
        try {
            for (int offset = 0; offset < rows.length; offset += COPY_CHUNK) {
                in.writeToCopy(rows, offset, Math.min(COPY_CHUNK, rows.length - offset));
            }
            in.endCopy();
        } finally {
            if (in.isActive()) {
                in.cancelCopy();
            }
        }
    }

    /** The table's columns and their types; empty while it does not exist. */
    private Map<String, String> columns(Connection conn) throws SQLException {
        Map<String, String> types = new HashMap<>();
        try (PreparedStatement query = conn.prepareStatement(
                "SELECT column_name, data_type FROM information_schema.columns"
                        + " WHERE table_schema = current_schema() AND table_name = ?")) {
            query.setString(1, name);
            try (ResultSet rows = query.executeQuery()) {
                while (rows.next()) {
                    types.put(rows.getString(1), rows.getString(2));
                }
            }
        }
        return types;
    }

    private boolean hasUniqueIndexOnKey(Connection conn) throws SQLException {
        try (PreparedStatement query = conn.prepareStatement(
                "SELECT i.indkey::int2[] FROM pg_index i WHERE i.indrelid = ?::regclass"
                        + " AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL")) {
            query.setString(1, quote(name));
            Set<Short> wanted = new HashSet<>();
            try (PreparedStatement attnums = conn.prepareStatement(
                    "SELECT attnum FROM pg_attribute WHERE attrelid = ?::regclass AND attname = ?")) {
                for (String key : keyFields) {
                    attnums.setString(1, quote(name));
                    attnums.setString(2, key);
                    try (ResultSet rows = attnums.executeQuery()) {
                        if (!rows.next()) {
                            return false;
                        }
                        wanted.add(rows.getShort(1));
                    }
                }
            }
            try (ResultSet rows = query.executeQuery()) {
                while (rows.next()) {
                    Set<Short> columns = new HashSet<>();
                    for (Object column : (Object[]) rows.getArray(1).getArray()) {
                        columns.add(((Number) column).shortValue());
                    }
                    if (columns.equals(wanted)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    private static String quotedList(List<String> identifiers) {
        StringJoiner list = new StringJoiner(", ");
        for (String identifier : identifiers) {
            list.add(quote(identifier));
        }
        return list.toString();
    }
}
