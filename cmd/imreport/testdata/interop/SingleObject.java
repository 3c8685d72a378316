// Single-object values with the Java reference implementation: Debian's
// libavro-java BinaryMessageDecoder (org.apache.avro.message), which checks
// the C3 01 header and the schema fingerprint it computes itself, decodes
// each file given (one value each, as imreport writes them) with the schema.
// Usage: java -cp AVRO_JARS SingleObject.java SCHEMA.avsc VALUE.avro...
import java.io.File;
import java.nio.file.Files;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;

public class SingleObject {
    public static void main(String[] args) throws Exception {
        Schema schema = new Schema.Parser().parse(new File(args[0]));
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), schema);
        int ok = 0;
        for (int i = 1; i < args.length; i++) {
            GenericRecord rec = decoder.decode(Files.readAllBytes(new File(args[i]).toPath()));
            if (rec.get("msgid") == null || rec.get("source") == null) throw new IllegalStateException(args[i] + ": incomplete record");
            ok++;
        }
        System.out.println("java BinaryMessageDecoder: " + ok + " single-object values decoded, fingerprint checked");
        System.exit(ok == args.length - 1 && ok > 0 ? 0 : 1);
    }
}
