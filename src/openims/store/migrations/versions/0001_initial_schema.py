"""initial schema: images with a column per stored attribute, properties, tags, members

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column(
            "owner",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "id",
            sa.String(length=36).with_variant(sa.String(length=36, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "status", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "visibility",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "name",
            sa.String(length=128).with_variant(sa.String(length=128, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "checksum",
            sa.String(length=32).with_variant(sa.String(length=32, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column(
            "container_format",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("min_ram", sa.BigInteger(), nullable=False),
        sa.Column(
            "max_ram", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "os_bit", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column(
            "os_version",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "description",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "disk_format",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "isregistered",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "platform", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column(
            "os_type", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("min_disk", sa.BigInteger(), nullable=False),
        sa.Column(
            "virtual_env_type",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "image_source_type",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "imagetype",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("virtual_size", sa.BigInteger(), nullable=True),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.Column(
            "originalimagename",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "backup_id", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column(
            "productcode",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "image_size",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "data_origin",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "lazyloading",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("active_at", sa.BigInteger(), nullable=True),
        sa.Column(
            "os_feature_list",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "hw_firmware_type",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "hw_vif_multiqueue_enabled",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_kvm",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_xen",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_largememory",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_diskintensive",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_highperformance",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_xen_gpu_type",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_kvm_gpu_type",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_xen_hana",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_kvm_infiniband",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_kvm_fpga_type",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_fc_inject",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_arm",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_amd",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_agent_list",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_kvm_hi1822_hisriov",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "support_kvm_hi1822_hivirtionet",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("system_support_market", sa.Boolean(), nullable=True),
        sa.Column(
            "is_offshelved",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "root_origin",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "sequence_num",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "system_cmkid",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "account_code",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("whole_image", sa.Boolean(), nullable=True),
        sa.Column(
            "is_config_init",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "image_displayname",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "enterprise_project_id",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "os_shutdown_timeout",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("doc", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index("ix_images_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_images_enterprise_project_id_created_at_id"),
            ["enterprise_project_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_imagetype_created_at_id"),
            ["imagetype", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_isregistered_created_at_id"),
            ["isregistered", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_name_created_at_id"), ["name", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_images_os_type_created_at_id"),
            ["os_type", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_owner_created_at_id"), ["owner", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_images_platform_created_at_id"),
            ["platform", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_status_created_at_id"),
            ["status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_support_arm_created_at_id"),
            ["support_arm", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_support_kvm_created_at_id"),
            ["support_kvm", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_system_cmkid_created_at_id"),
            ["system_cmkid", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_virtual_env_type_created_at_id"),
            ["virtual_env_type", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_visibility_created_at_id"),
            ["visibility", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_images_whole_image_created_at_id"),
            ["whole_image", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "image_members",
        sa.Column(
            "image_id",
            sa.String(length=36).with_variant(sa.String(length=36, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "member_id",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.String(length=20).with_variant(sa.String(length=20, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_image_members_image_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", "member_id", name=op.f("pk_image_members")),
    )
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_image_members_member_id_status_image_id"),
            ["member_id", "status", "image_id"],
            unique=False,
        )

    op.create_table(
        "image_properties",
        sa.Column(
            "image_id",
            sa.String(length=36).with_variant(sa.String(length=36, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "value", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_properties_image_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "name", name=op.f("pk_image_properties")),
    )
    with op.batch_alter_table("image_properties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_image_properties_name_value_image_id"),
            ["name", "value", "image_id"],
            unique=False,
        )

    op.create_table(
        "image_tags",
        sa.Column(
            "image_id",
            sa.String(length=36).with_variant(sa.String(length=36, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tag",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_image_tags_image_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", "tag", name=op.f("pk_image_tags")),
    )
    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_image_tags_tag_image_id"), ["tag", "image_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_tags_tag_image_id"))

    op.drop_table("image_tags")
    with op.batch_alter_table("image_properties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_properties_name_value_image_id"))

    op.drop_table("image_properties")
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_members_member_id_status_image_id"))

    op.drop_table("image_members")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_whole_image_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_visibility_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_virtual_env_type_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_system_cmkid_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_support_kvm_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_support_arm_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_status_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_platform_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_owner_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_os_type_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_name_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_isregistered_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_imagetype_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_images_enterprise_project_id_created_at_id"))
        batch_op.drop_index("ix_images_created_at_id")

    op.drop_table("images")
