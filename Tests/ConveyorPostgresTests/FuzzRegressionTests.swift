import ConveyorPostgres
import Testing
import TestSupport

/// Inputs scripts/fuzz found (or that its libpq oracle checks), kept as regression tests.
@Suite("Fuzz regressions: SQL identifiers and DATABASE_URL masking")
struct FuzzRegressionTests {
    @Test("a quote followed by a combining mark is still doubled (sql_identifier crash ce77fb6b)")
    func quoteBeforeCombiningMark() throws {
        let name = "\"\"\u{0651}"
        let identifier = try SQLIdentifier(name)
        #expect(identifier.quoted == "\"\"\"\"\"\u{0651}\"")
        // PostgreSQL reads the quoted form back as exactly the name.
        let db = try PostgresConnection(connectionString: try TestEnvironment.databaseURL)
        let result = try db.execute("SELECT 1 AS \(identifier.quoted)")
        #expect(result.columns.names == [name])
    }

    @Test("an injection shaped like a quote plus combining mark stays one identifier")
    func noEarlyClose() throws {
        let identifier = try SQLIdentifier("x\"\u{0651} AS y")
        let db = try PostgresConnection(connectionString: try TestEnvironment.databaseURL)
        let result = try db.execute("SELECT 1 AS \(identifier.quoted)")
        #expect(result.columns.names == ["x\"\u{0651} AS y"])
    }

    func shown(_ text: String) -> String { PostgresConfiguration(connectionString: text).displayName }

    @Test("passwords libpq would read are masked and nothing else changes")
    func masking() {
        #expect(shown("postgres://app:s3cret@db:5432/app?sslmode=require") == "postgres://app:***@db:5432/app?sslmode=require")
        // A query password among other parameters: only its value goes.
        #expect(shown("postgres://h/db?password=pw&application_name=x") == "postgres://h/db?password=***&application_name=x")
        // A percent-encoded keyword is still the password.
        #expect(shown("postgres://h/db?pass%77ord=hidden") == "postgres://h/db?pass%77ord=***")
        // '@' after the path is not userinfo (libpq stops at '/').
        #expect(shown("postgres://h:5432/db?application_name=a@b") == "postgres://h:5432/db?application_name=a@b")
        // key=value: a backslash-escaped space and a quoted value with an escaped quote.
        #expect(shown(#"password=x\ yz dbname=d"#) == "password=*** dbname=d")
        #expect(shown(#"host=h password='it\'s secret' user=u"#) == "host=h password=*** user=u")
        // An empty value takes the next word, as libpq reads it.
        #expect(shown("password= host=h") == "password= ***")
        // An empty password is not invented.
        #expect(shown("postgres://u:@h/db") == "postgres://u:@h/db")
        #expect(shown("mydb") == "mydb")
        #expect(shown("password='unterminated").contains("not shown"))
    }
}
