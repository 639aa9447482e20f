{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100.0,
   100.0,
   900.0,
   595.0
  ],
  "openinpresentation": 0,
  "default_fontsize": 12.0,
  "description": "PoseNet appliance: find with zero.browse, subscribe, receive",
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "patching_rect": [
      20,
      10,
      760,
      40.0
     ],
     "text": "PoseNet OSC appliance, zero-configuration version (needs Cycling '74's 'zero' package): boxes on the network appear in the menu; pick one and you are subscribed.",
     "linecount": 2
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      60,
      150,
      22.0
     ],
     "text": "zero.browse _osc._udp"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "message",
     "patching_rect": [
      20,
      30,
      50,
      22.0
     ],
     "text": "browse"
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      100,
      220,
      22.0
     ],
     "text": "umenu"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      140,
      110,
      22.0
     ],
     "text": "prepend resolve"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      175,
      90,
      22.0
     ],
     "text": "zero.resolve"
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      210,
      110,
      22.0
     ],
     "text": "route host port"
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      250,
      90,
      22.0
     ],
     "text": "prepend host"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "newobj",
     "patching_rect": [
      130,
      250,
      90,
      22.0
     ],
     "text": "prepend port"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      330,
      60,
      22.0
     ],
     "text": "udpsend"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "newobj",
     "patching_rect": [
      240,
      250,
      50,
      22.0
     ],
     "text": "t b b"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "message",
     "patching_rect": [
      240,
      290,
      230,
      22.0
     ],
     "text": "/posenet/listeners/add 9000 bundle"
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "newobj",
     "patching_rect": [
      500,
      100,
      110,
      22.0
     ],
     "text": "udpreceive 9000"
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "newobj",
     "patching_rect": [
      500,
      140,
      380,
      22.0
     ],
     "text": "route /posenet/frame /posenet/person/pose /posenet/listeners/confirm"
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "newobj",
     "patching_rect": [
      500,
      180,
      80,
      22.0
     ],
     "text": "print frame"
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "newobj",
     "patching_rect": [
      640,
      180,
      90,
      22.0
     ],
     "text": "print person"
    }
   },
   {
    "box": {
     "id": "obj-17",
     "maxclass": "comment",
     "patching_rect": [
      20,
      380,
      760,
      40.0
     ],
     "text": "umenu lists the instance names ('posenet (1a2b)'); zero.resolve gives host and port of its OSC control port; the subscription asks for the 'bundle' format on port 9000.",
     "linecount": 2
    }
   },
   {
    "box": {
     "id": "obj-18",
     "maxclass": "newobj",
     "patching_rect": [
      900,
      180,
      230,
      22.0
     ],
     "text": "prepend /posenet/listeners/confirm"
    }
   },
   {
    "box": {
     "id": "obj-19",
     "maxclass": "toggle",
     "patching_rect": [
      1000,
      60,
      24,
      24
     ],
     "text": ""
    }
   },
   {
    "box": {
     "id": "obj-20",
     "maxclass": "newobj",
     "patching_rect": [
      1030,
      60,
      90,
      22.0
     ],
     "text": "metro 20000"
    }
   },
   {
    "box": {
     "id": "obj-21",
     "maxclass": "comment",
     "patching_rect": [
      20,
      380,
      700,
      60.0
     ],
     "text": "The box answers a subscription with /posenet/listeners/confirm <nonce> on port 9000: the patch sends the nonce back (right) and then the poses come. The metro renews the subscription every 20 s: the box ends one nobody renews (after 60 s). If the owner set a subscribe key, put it last: /posenet/listeners/add 9000 bundle <key> (never the access token). Changes (remove) are confirmed the same way."
    }
   },
   {
    "box": {
     "id": "obj-22",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      455.0,
      520,
      22.0
     ],
     "text": "route /posenet/scene /posenet/zone/door/count /posenet/slot/1/centre",
     "numinlets": 1,
     "numoutlets": 4,
     "outlettype": [
      "",
      "",
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-23",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      485.0,
      80,
      22.0
     ],
     "text": "print scene",
     "numinlets": 1,
     "numoutlets": 0
    }
   },
   {
    "box": {
     "id": "obj-24",
     "maxclass": "newobj",
     "patching_rect": [
      160,
      485.0,
      110,
      22.0
     ],
     "text": "print door-count",
     "numinlets": 1,
     "numoutlets": 0
    }
   },
   {
    "box": {
     "id": "obj-25",
     "maxclass": "newobj",
     "patching_rect": [
      300,
      485.0,
      120,
      22.0
     ],
     "text": "print slot1-centre",
     "numinlets": 1,
     "numoutlets": 0
    }
   },
   {
    "box": {
     "id": "obj-26",
     "maxclass": "comment",
     "patching_rect": [
      20,
      515.0,
      700,
      55.0
     ],
     "text": "The room: /posenet/scene = count, then every id present (keep the ids you follow in a [dict] and forget any id a scene does not list: a lost leave leaves no ghost); /posenet/zone/NAME/count, /enter id, /leave id, /xy id x y (0..1 of the zone: a slider or XY pad); /posenet/slot/K/pose, /box, /centre, /present 0|1: person K for the whole evening."
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-2",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-2",
      0
     ],
     "destination": [
      "obj-4",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-4",
      1
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      0
     ],
     "destination": [
      "obj-6",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-6",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      0
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      1
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      1
     ],
     "destination": [
      "obj-11",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-8",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      0
     ],
     "destination": [
      "obj-12",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-13",
      0
     ],
     "destination": [
      "obj-14",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      0
     ],
     "destination": [
      "obj-15",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      1
     ],
     "destination": [
      "obj-16",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      2
     ],
     "destination": [
      "obj-18",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-18",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-19",
      0
     ],
     "destination": [
      "obj-20",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-20",
      0
     ],
     "destination": [
      "obj-12",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      3
     ],
     "destination": [
      "obj-22",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-22",
      0
     ],
     "destination": [
      "obj-23",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-22",
      1
     ],
     "destination": [
      "obj-24",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-22",
      2
     ],
     "destination": [
      "obj-25",
      0
     ]
    }
   }
  ]
 }
}
