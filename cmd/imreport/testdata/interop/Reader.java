// Independent reader (Java): Debian's libavro-java (the Apache reference
// implementation). For each value (hex, one per line, as consumed from the
// topic) it checks the 00 magic byte, fetches the writer schema by the id
// from the registry (GET /schemas/ids/N, once per id), parses it with
// Schema.Parser and decodes the body with GenericDatumReader.
//
// Usage: java -cp AVRO_JARS Reader.java VALUES.hex REGISTRY_URL TRUTH.jsonl
// Prints one summary line; exits 0 only if every message of the ground truth
// was decoded exactly once and matched field by field.
import java.io.*;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.codehaus.jackson.JsonNode;
import org.codehaus.jackson.map.ObjectMapper;

public class Reader {
    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Map<String, JsonNode> truth = new HashMap<>();
        for (String line : Files.readAllLines(Paths.get(args[2]), StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                JsonNode t = json.readTree(line);
                truth.put(t.get("msgid").getTextValue(), t);
            }
        }
        Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
        Map<String, Integer> seen = new HashMap<>();
        List<String> problems = new ArrayList<>();
        int records = 0;
        for (String hex : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            if (hex.isBlank()) continue;
            byte[] v = new byte[hex.length() / 2];
            for (int i = 0; i < v.length; i++) v[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
            if (v.length < 5 || v[0] != 0) { problems.add("value does not start with 00"); continue; }
            int id = ((v[1] & 0xff) << 24) | ((v[2] & 0xff) << 16) | ((v[3] & 0xff) << 8) | (v[4] & 0xff);
            GenericDatumReader<GenericRecord> reader = readers.get(id);
            if (reader == null) {
                try (InputStream in = new URL(args[1] + "/schemas/ids/" + id).openStream()) {
                    String text = json.readTree(in).get("schema").getTextValue();
                    reader = new GenericDatumReader<>(new Schema.Parser().parse(text));
                }
                readers.put(id, reader);
            }
            BinaryDecoder dec = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, null);
            GenericRecord rec = reader.read(null, dec);
            if (!dec.isEnd()) problems.add("bytes left after the record");
            records++;
            String mid = String.valueOf(rec.get("msgid"));
            seen.merge(mid, 1, Integer::sum);
            JsonNode t = truth.get(mid);
            if (t == null) { problems.add("unexpected msgid " + mid); continue; }
            GenericRecord src = (GenericRecord) rec.get("source");
            Object text = rec.get("text");
            String[][] got = {
                {"msg_type", str(rec.get("msg_type"))}, {"from_id", str(rec.get("from_id"))},
                {"target_id", str(rec.get("target_id"))}, {"conversation_id", str(rec.get("conversation_id"))},
                {"msg_body", str(rec.get("msg_body"))}, {"app_key", str(src.get("app_key"))},
                {"text", text == null ? null : text.toString()},
                {"msg_ctime", String.valueOf(rec.get("msg_ctime"))}, {"create_time", String.valueOf(rec.get("create_time"))},
            };
            for (String[] g : got) {
                JsonNode w = t.get(g[0]);
                String want = w.isNull() ? null : w.isNumber() ? w.asText() : w.getTextValue();
                if (!Objects.equals(g[1], want)) problems.add("msgid " + mid + " " + g[0] + ": got " + g[1] + ", want " + want);
            }
        }
        for (String mid : truth.keySet()) {
            int n = seen.getOrDefault(mid, 0);
            if (n != 1) problems.add("msgid " + mid + " decoded " + n + " times");
        }
        System.out.println("java libavro GenericDatumReader: " + records + " records, " + truth.size() + " expected, "
            + problems.size() + " problems, " + readers.size() + " schema id(s) fetched");
        for (int i = 0; i < Math.min(10, problems.size()); i++) System.out.println("  " + problems.get(i));
        System.exit(problems.isEmpty() && records == truth.size() ? 0 : 1);
    }

    static String str(Object o) { return o == null ? null : o.toString(); }
}
