"""Inventory: the one YAML file a user writes, loaded with positions and validated."""

from lbdeploy.inventory.load import load_inventory
from lbdeploy.inventory.model import Inventory

__all__ = ["Inventory", "load_inventory"]
