"""Reading MySQL/MariaDB's SHOW CREATE TABLE."""

from schema_manager.sql.mysql_tables import column_definitions

CREATE = """CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `Note` varchar(20) DEFAULT 'a,b' COMMENT 'kept',
  `odd``name` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `orders_note` (`Note`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""


def test_each_column_by_lower_cased_name_with_its_line_and_definition_but_no_key():
    found = column_definitions(CREATE)
    assert list(found) == ["id", "note", "odd`name"]
    assert found["note"] == (
        "`Note` varchar(20) DEFAULT 'a,b' COMMENT 'kept'",
        "varchar(20) DEFAULT 'a,b' COMMENT 'kept'",
    )
    assert found["odd`name"][1] == "int(11) DEFAULT NULL"


def test_no_table_text_has_no_columns():
    assert column_definitions("") == {}
