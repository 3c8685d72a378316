// Schema evolution check with the Avro reference implementation (Debian's
// libavro-java SchemaCompatibility, the rules Confluent's registry applies):
// the current schema must be FULL compatible (reads old data, old readers
// read new data) with every released one.
// Usage: java -cp AVRO_JARS Compat.java CURRENT.avsc RELEASED.avsc...
import java.io.File;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;

public class Compat {
    public static void main(String[] args) throws Exception {
        Schema current = new Schema.Parser().parse(new File(args[0]));
        int bad = 0;
        for (int i = 1; i < args.length; i++) {
            Schema old = new Schema.Parser().parse(new File(args[i]));
            SchemaCompatibilityType backward = SchemaCompatibility.checkReaderWriterCompatibility(current, old).getType();
            SchemaCompatibilityType forward = SchemaCompatibility.checkReaderWriterCompatibility(old, current).getType();
            boolean ok = backward == SchemaCompatibilityType.COMPATIBLE && forward == SchemaCompatibilityType.COMPATIBLE;
            System.out.println(args[i] + ": backward " + backward + ", forward " + forward + (ok ? " (FULL)" : " (NOT FULL)"));
            if (!ok) bad++;
        }
        System.exit(bad == 0 && args.length > 1 ? 0 : 1);
    }
}
